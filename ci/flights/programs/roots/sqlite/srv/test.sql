-- sqlite3 3.40 from Debian's source package, against a database file on tmpfs.
PRAGMA journal_mode=DELETE;
CREATE TABLE t(id INTEGER PRIMARY KEY, k TEXT, v INTEGER);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 200000)
INSERT INTO t(k, v) SELECT printf('key%06d', (x * 7919) % 200000), x % 1000 FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(v), min(k), max(k) FROM t;
SELECT k, v FROM t WHERE k = 'key123456';
BEGIN;
UPDATE t SET v = v + 1 WHERE id % 2 = 0;
COMMIT;
SELECT sum(v) FROM t;
DELETE FROM t WHERE id > 100000;
VACUUM;
SELECT count(*) FROM t;
PRAGMA integrity_check;
