/* Two threads, each with its own in-memory SQLite database: inserts in a transaction,
 * aggregates, JSON and date functions. The main thread prints what each found, in order,
 * then "N passed, N failed". */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "sqlite3.h"

struct work {
    int id;
    char out[1024];
    int ok;
};

static int row(void *p, int n, char **val, char **col) {
    struct work *w = p;
    size_t len = strlen(w->out);
    for (int i = 0; i < n; i++)
        len += snprintf(w->out + len, sizeof w->out - len, "%s%s=%s", i ? " " : "  ", col[i],
                        val[i] ? val[i] : "NULL");
    snprintf(w->out + len, sizeof w->out - len, "\n");
    return 0;
}

static void *run(void *p) {
    struct work *w = p;
    sqlite3 *db;
    char *err = NULL;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK)
        return NULL;
    char sql[512];
    int rc = sqlite3_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v REAL, name TEXT);"
                              "BEGIN;", NULL, NULL, &err);
    for (int i = 1; rc == SQLITE_OK && i <= 2000; i++) {
        snprintf(sql, sizeof sql, "INSERT INTO t(v, name) VALUES (%d * 0.5, 'n%d');", i * (w->id + 1), i % 7);
        rc = sqlite3_exec(db, sql, NULL, NULL, &err);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT;", NULL, NULL, &err);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db,
                          "SELECT count(*) AS n, sum(v) AS total, printf('%.3f', avg(v)) AS mean,"
                          " max(name) AS top FROM t;"
                          "SELECT name, count(*) AS c FROM t GROUP BY name ORDER BY name LIMIT 3;"
                          "SELECT json_object('id', 7, 'tags', json_array('a', 'b')) AS j,"
                          " json_extract('{\"x\": [1, 2, {\"y\": 42}]}', '$.x[2].y') AS y;"
                          "SELECT date('2024-02-28', '+1 day') AS leap,"
                          " strftime('%Y-%j', '2023-12-31') AS doy;",
                          row, w, &err);
    w->ok = rc == SQLITE_OK;
    if (err) {
        snprintf(w->out + strlen(w->out), sizeof w->out - strlen(w->out), "  error: %s\n", err);
        sqlite3_free(err);
    }
    sqlite3_close(db);
    return NULL;
}

int main(void) {
    printf("sqlite %s, threadsafe %d\n", sqlite3_libversion(), sqlite3_threadsafe());
    struct work w[2] = {{.id = 0}, {.id = 1}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, run, &w[i]);
    int passed = 0, failed = 0;
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        printf("thread %d:\n%s", i, w[i].out);
        if (w[i].ok)
            passed++;
        else
            failed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
