-- Bedrock Usage Tracker: Athena table over the model invocation log prefix (run once; see docs/aws.md).
-- Partition projection: no crawler, no MSCK REPAIR, no ALTER TABLE ADD PARTITION; the partitions are computed from
-- the key path <prefix>/AWSLogs/<account>/BedrockModelInvocationLogs/<region>/YYYY/MM/DD/HH/.
-- The account is a partition too (enum of the accounts that log into this bucket and prefix): one table over a
-- central logging bucket serves every member, and each member's query filters on its own account.
-- Placeholders {database} {table} {location} {accounts} {regions} {first_hour} are filled by
-- tracker_utils.collect.athena from validated parameters (a DDL statement cannot take execution parameters).
-- The data/ sidecar objects under each hour folder are read by the SerDe too; daily_usage.sql drops them by "$path".
CREATE EXTERNAL TABLE IF NOT EXISTS {database}.{table} (
  `schematype` string,
  `schemaversion` string,
  `timestamp` string,
  `accountid` string,
  `identity` struct<`arn`:string>,
  `region` string,
  `requestid` string,
  `operation` string,
  `modelid` string,
  `inferenceregion` string,
  `errorcode` string,
  `requestmetadata` map<string,string>,
  `input` struct<`inputcontenttype`:string,`inputtokencount`:bigint,`cachereadinputtokencount`:bigint,`cachewriteinputtokencount`:bigint,`cachereadinputtokens`:bigint,`cachewriteinputtokens`:bigint>,
  `output` struct<`outputcontenttype`:string,`outputtokencount`:bigint>,
  `performanceconfig` struct<`latency`:string>
)
PARTITIONED BY (`account` string, `log_region` string, `dt` string)
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES ('ignore.malformed.json' = 'true', 'case.insensitive' = 'true')
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{location}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.account.type' = 'enum',
  'projection.account.values' = '{accounts}',
  'projection.log_region.type' = 'enum',
  'projection.log_region.values' = '{regions}',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy/MM/dd/HH',
  'projection.dt.range' = '{first_hour},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'HOURS',
  'storage.location.template' = '{location}${account}/BedrockModelInvocationLogs/${log_region}/${dt}/',
  'has_encrypted_data' = 'false'
)
