-- Bedrock Usage Tracker: one date and one region of invocation logs, aggregated in one scan (Athena engine v3, Trino).
--
-- Same rules as the local reader (tracker_utils/sources/logs.py): a record belongs to the day of its own "timestamp"
-- (not to the hour folder it was delivered into), a requestId seen twice counts once (the copy in the first file by
-- key), records in files delivered after the collection time ("as of") are late, malformed records are counted, and
-- the data/ sidecar bodies are not records.
--
-- User-supplied values are Athena execution parameters (`?`, bound in this order; never pasted into this text):
--    1  account           '111122223333'       partition: the account folder (AWSLogs/<account>/; one table may
--                                              hold a central bucket's accounts, each query reads its own)
--    2  log_region        'us-east-1'          partition: the region folder of the log prefix
--    3  first_hour        '2026/11/02/00'      partition: first hour folder read (the day's 00)
--    4  last_hour         '2026/11/03/02'      partition: last hour folder (the day + window_after_hours - 1)
--    5-7  principal_filter  '*' = everyone, else '|'-separated role names, user names or principal ARNs (3 times)
-- The kit writes three integers into the text, from typed values (never from user text): {day_start_s} and
-- {day_end_s} (the day, epoch seconds) and {as_of_ms} (the collection time, epoch milliseconds).
-- Athena allows `?` only in WHERE clauses; the day and "as of" are needed in SELECT to count rather than drop.
--
-- Every CTE is read once, so Trino scans the hour folders once. Output: one row per (fate, group) where fate is
-- used | late (with the group keys) or malformed | duplicate | outside_day (keys NULL), plus one total row
-- (is_total = 1) holding the records and distinct files read.
WITH scan AS (
    SELECT "$path" AS path,
           requestid AS request_id,
           operation,
           modelid AS model_id,
           identity.arn AS principal,
           region,
           inferenceregion AS inference_region,
           errorcode AS error_code,
           performanceconfig.latency AS latency,
           requestmetadata AS request_metadata,
           input.inputtokencount AS input_tokens,
           output.outputtokencount AS output_tokens,
           -- both spellings of the cache counts (the *Count one first), as the local reader
           coalesce(input.cachereadinputtokencount, input.cachereadinputtokens) AS cache_read_tokens,
           coalesce(input.cachewriteinputtokencount, input.cachewriteinputtokens) AS cache_write_tokens,
           -- delivery time from the file name: YYYYMMDDTHHMMSS[fff]Z_<hex>.json.gz
           CAST(to_unixtime(try(date_parse(nullif(regexp_extract("$path", '(\d{8}T\d{6})\d{0,3}Z_[^/]*$', 1), ''),
                                           '%Y%m%dT%H%i%s'))) AS bigint) * 1000
             + coalesce(try_cast(nullif(regexp_extract("$path", '\d{8}T\d{6}(\d{3})Z_[^/]*$', 1), '') AS bigint), 0)
             AS delivered_ms,
           to_unixtime(try(from_iso8601_timestamp("timestamp"))) AS ts_s,
           coalesce(requestid <> '' AND modelid <> ''
                    AND operation IN ('InvokeModel', 'InvokeModelWithResponseStream', 'Converse', 'ConverseStream')
                    AND coalesce(schematype, 'ModelInvocationLog') = 'ModelInvocationLog'
                    AND coalesce(schemaversion, '1.0') = '1.0'
                    AND input.inputtokencount >= 0 AND output.outputtokencount >= 0
                    AND coalesce(input.cachereadinputtokencount, input.cachereadinputtokens, 0) >= 0
                    AND coalesce(input.cachewriteinputtokencount, input.cachewriteinputtokens, 0) >= 0
                    AND try(from_iso8601_timestamp("timestamp")) IS NOT NULL, false) AS ok
    FROM bedrock_logs.invocations
    WHERE account = ?
      AND log_region = ?
      AND dt >= ?
      AND dt <= ?
      AND "$path" NOT LIKE '%/data/%'
      AND (? = '*'
           OR contains(split(?, '|'), identity.arn)
           OR contains(split(?, '|'), coalesce(nullif(regexp_extract(identity.arn, ':(?:assumed-role|role|user)/([^/]+)', 1), ''), '')))
),
ranked AS (
    SELECT s.*, row_number() OVER (PARTITION BY s.ok, s.request_id ORDER BY s.path, s.ts_s) AS copy_no
    FROM scan s
),
classified AS (
    SELECT r.*,
           CASE WHEN NOT r.ok THEN 'malformed'
                WHEN r.copy_no > 1 THEN 'duplicate'
                WHEN r.ts_s < {day_start_s} OR r.ts_s >= {day_end_s} THEN 'outside_day'
                WHEN r.delivered_ms > {as_of_ms} THEN 'late'
                ELSE 'used' END AS fate
    FROM ranked r
),
keyed AS (
    SELECT c.fate,
           c.path,
           c.delivered_ms,
           c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,
           c.fate IN ('used', 'late') AS detail,
           CASE WHEN c.fate IN ('used', 'late') THEN CAST(floor(c.ts_s / 3600) AS bigint) * 3600 END AS hour_s,
           CASE WHEN c.fate IN ('used', 'late') THEN c.operation END AS operation,
           CASE WHEN c.fate IN ('used', 'late') THEN c.model_id END AS model_id,
           CASE WHEN c.fate IN ('used', 'late') THEN coalesce(c.principal, '') END AS principal,
           CASE WHEN c.fate IN ('used', 'late') THEN coalesce(c.region, '') END AS region,
           CASE WHEN c.fate IN ('used', 'late') THEN coalesce(c.inference_region, '') END AS inference_region,
           CASE WHEN c.fate IN ('used', 'late') THEN coalesce(c.error_code, '') END AS error_code,
           CASE WHEN c.fate IN ('used', 'late') THEN coalesce(c.latency, '') END AS latency,
           CASE WHEN c.fate IN ('used', 'late') AND c.request_metadata IS NOT NULL
                THEN json_format(CAST(c.request_metadata AS JSON)) END AS request_metadata,
           CASE WHEN c.fate IN ('used', 'late')
                THEN coalesce(floor(c.delivered_ms / 86400000) <> floor(c.ts_s / 86400), false) END AS day_edge
    FROM classified c
)
SELECT grouping(fate) AS is_total,
       fate, hour_s, operation, model_id, principal, region, inference_region, error_code, latency, request_metadata,
       day_edge,
       count(*) AS records,
       sum(CASE WHEN detail THEN input_tokens END) AS input_tokens,
       sum(CASE WHEN detail THEN output_tokens END) AS output_tokens,
       sum(CASE WHEN detail THEN coalesce(cache_read_tokens, 0) END) AS cache_read_tokens,
       sum(CASE WHEN detail THEN coalesce(cache_write_tokens, 0) END) AS cache_write_tokens,
       max(delivered_ms) AS delivered_ms,
       count(DISTINCT path) AS files
FROM keyed
GROUP BY GROUPING SETS ((fate, hour_s, operation, model_id, principal, region, inference_region, error_code, latency,
                         request_metadata, day_edge), ())
