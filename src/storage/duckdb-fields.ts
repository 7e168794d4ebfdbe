/**
 * A payload's numeric fields as rows (field, value) of json_tree `j`: every number or boolean (as 0/1) by its dotted
 * path, not inside an array, not the top-level ts. numericFields in devices/decode.ts says the same for InfluxDB; the
 * store contract test holds both to it.
 */
export const FIELD = "substr(j.fullkey, 3)";
export const VALUE = "CASE WHEN j.type = 'BOOLEAN' THEN CASE WHEN j.atom = 'true' THEN 1.0 ELSE 0.0 END ELSE CAST(j.atom AS DOUBLE) END";
export const NUMERIC = "j.type IN ('UBIGINT', 'BIGINT', 'DOUBLE', 'BOOLEAN') AND j.fullkey <> '$.ts' AND NOT contains(j.fullkey, '[')";
