-- Bedrock Usage Tracker: one date and one region of invocation logs, aggregated (Athena engine v3 / Trino SQL).
--
-- Same rules as the local reader (tracker_utils/sources/logs.py): a record belongs to the day of its own
-- "timestamp" (not to the hour folder it was delivered into), duplicates of a requestId count once (the copy in the
-- first file by key), a file delivered after the collection time ("as of") holds late records, malformed records
-- are counted, and data/ sidecar bodies are not records.
--
-- Every value is an Athena execution parameter (`?`, bound in this order; never pasted into this text):
--    1  log_region        varchar  'us-east-1'       partition: the region folder of the log prefix
--    2  first_hour        varchar  '2026/11/02/00'   partition: first hour folder read (the day's 00)
--    3  last_hour         varchar  '2026/11/03/02'   partition: last hour folder (day + window_after_hours - 1)
--    4  as_of_ms          bigint   epoch ms          files delivered after this hold late records
--    5  day_start_s       bigint   epoch s           record timestamp >= this ...
--    6  day_end_s         bigint   epoch s           ... and < this
--    7  day_start_s       bigint   (again, for the outside-the-day count)
--    8  day_end_s         bigint
--    9  principal_filter  varchar  '*' for everyone, else '|'-separated role names, user names or principal ARNs
--   10  principal_filter  (same value)
--   11  principal_filter  (same value)
--
-- Output: rows with row_kind = 'usage' (one per group) and exactly one row with row_kind = 'stats'.
WITH raw AS (
    SELECT "$path" AS path,
           requestid AS request_id,
           "timestamp" AS ts_text,
           operation,
           modelid AS model_id,
           identity.arn AS principal,
           regexp_extract(identity.arn, ':(?:assumed-role|role|user)/([^/]+)', 1) AS principal_name,
           region,
           inferenceregion AS inference_region,
           errorcode AS error_code,
           performanceconfig.latency AS latency,
           requestmetadata AS request_metadata,
           input.inputtokencount AS input_tokens,
           output.outputtokencount AS output_tokens,
           input.cachereadinputtokencount AS cache_read_tokens,
           input.cachewriteinputtokencount AS cache_write_tokens,
           schematype AS schema_type,
           schemaversion AS schema_version
    FROM bedrock_logs.invocations
    WHERE log_region = ?
      AND dt >= ?
      AND dt <= ?
      AND "$path" NOT LIKE '%/data/%'
),
files AS (
    -- delivery time from the file name: YYYYMMDDTHHMMSS[fff]Z_<hex>.json.gz
    SELECT path,
           CAST(to_unixtime(date_parse(regexp_extract(path, '(\d{8}T\d{6})\d{0,3}Z_[^/]*$', 1), '%Y%m%dT%H%i%s')) AS bigint) * 1000
             + coalesce(CAST(regexp_extract(path, '\d{8}T\d{6}(\d{3})Z_[^/]*$', 1) AS bigint), 0) AS delivered_ms,
           count(*) AS lines
    FROM raw
    GROUP BY path
),
late_files AS (
    SELECT path FROM files WHERE delivered_ms > ?
),
checked AS (
    SELECT r.*,
           f.delivered_ms,
           to_unixtime(try(from_iso8601_timestamp(r.ts_text))) AS ts_s
    FROM raw r
    JOIN files f ON f.path = r.path
),
valid AS (
    SELECT * FROM checked
    WHERE request_id IS NOT NULL AND request_id <> ''
      AND model_id IS NOT NULL AND model_id <> ''
      AND ts_s IS NOT NULL
      AND operation IN ('InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream')
      AND coalesce(schema_type, 'ModelInvocationLog') = 'ModelInvocationLog'
      AND coalesce(schema_version, '1.0') = '1.0'
      AND input_tokens >= 0
      AND output_tokens >= 0
      AND coalesce(cache_read_tokens, 0) >= 0
      AND coalesce(cache_write_tokens, 0) >= 0
),
ranked AS (
    SELECT v.*, row_number() OVER (PARTITION BY v.request_id ORDER BY v.path, v.ts_s) AS copy_no
    FROM valid v
),
in_day AS (
    SELECT * FROM ranked WHERE copy_no = 1 AND ts_s >= ? AND ts_s < ?
),
outside_day AS (
    SELECT count(*) AS n FROM ranked WHERE copy_no = 1 AND NOT (ts_s >= ? AND ts_s < ?)
),
selected AS (
    SELECT * FROM in_day
    WHERE ? = '*'
       OR contains(split(?, '|'), principal)
       OR contains(split(?, '|'), principal_name)
),
usage AS (
    SELECT CAST(floor(s.ts_s / 3600) AS bigint) * 3600 AS hour_s,
           s.operation,
           s.model_id,
           coalesce(s.principal, '') AS principal,
           coalesce(s.region, '') AS region,
           coalesce(s.inference_region, '') AS inference_region,
           coalesce(s.error_code, '') AS error_code,
           coalesce(s.latency, '') AS latency,
           CASE WHEN s.request_metadata IS NULL THEN '' ELSE json_format(CAST(s.request_metadata AS JSON)) END AS request_metadata,
           lf.path IS NOT NULL AS late,
           coalesce(floor(s.delivered_ms / 86400000) <> floor(s.ts_s / 86400), false) AS day_edge,
           count(*) AS records,
           sum(s.input_tokens) AS input_tokens,
           sum(s.output_tokens) AS output_tokens,
           sum(coalesce(s.cache_read_tokens, 0)) AS cache_read_tokens,
           sum(coalesce(s.cache_write_tokens, 0)) AS cache_write_tokens,
           max(s.delivered_ms) AS delivered_ms
    FROM selected s
    LEFT JOIN late_files lf ON lf.path = s.path
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
),
stats AS (
    SELECT (SELECT count(*) FROM files) AS files_read,
           (SELECT count(*) FROM raw) AS records_read,
           (SELECT count(*) FROM raw) - (SELECT count(*) FROM valid) AS records_malformed,
           (SELECT count(*) FROM ranked WHERE copy_no > 1) AS records_duplicate,
           (SELECT n FROM outside_day) AS records_outside_day
)
SELECT 'usage' AS row_kind, hour_s, operation, model_id, principal, region, inference_region, error_code, latency,
       request_metadata, late, day_edge, records, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       delivered_ms,
       CAST(NULL AS bigint) AS files_read, CAST(NULL AS bigint) AS records_read,
       CAST(NULL AS bigint) AS records_malformed, CAST(NULL AS bigint) AS records_duplicate,
       CAST(NULL AS bigint) AS records_outside_day
FROM usage
UNION ALL
SELECT 'stats', CAST(NULL AS bigint), CAST(NULL AS varchar), CAST(NULL AS varchar), CAST(NULL AS varchar),
       CAST(NULL AS varchar), CAST(NULL AS varchar), CAST(NULL AS varchar), CAST(NULL AS varchar), CAST(NULL AS varchar),
       CAST(NULL AS boolean), CAST(NULL AS boolean), CAST(NULL AS bigint), CAST(NULL AS bigint), CAST(NULL AS bigint),
       CAST(NULL AS bigint), CAST(NULL AS bigint), CAST(NULL AS bigint),
       files_read, records_read, records_malformed, records_duplicate, records_outside_day
FROM stats
