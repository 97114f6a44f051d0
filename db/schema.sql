-- rowcast demo schema: a shared task board and a stream of sensor readings.
-- Created in a new database only; an existing database is never altered by it.

CREATE TABLE tasks (
  id         INTEGER PRIMARY KEY,
  title      TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
  done       INTEGER NOT NULL DEFAULT 0 CHECK (done IN (0, 1)),
  priority   INTEGER NOT NULL DEFAULT 2 CHECK (priority BETWEEN 1 AND 5),
  assignee   TEXT,
  created_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE sensors (
  id    TEXT PRIMARY KEY,
  name  TEXT NOT NULL UNIQUE,
  unit  TEXT NOT NULL
);

CREATE TABLE readings (
  id        INTEGER PRIMARY KEY,
  sensor_id TEXT    NOT NULL REFERENCES sensors(id),
  value     REAL    NOT NULL,
  taken_at  INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))
);

CREATE INDEX readings_by_sensor ON readings(sensor_id, taken_at);

INSERT INTO tasks (title, done, priority, assignee) VALUES
  ('Unpack the rack servers', 1, 3, 'ada'),
  ('Label every cable', 0, 2, 'grace'),
  ('Flash the Raspberry Pi images', 0, 4, 'linus'),
  ('Write the runbook', 0, 1, NULL);

INSERT INTO sensors (id, name, unit) VALUES
  ('temp-1', 'Server room temperature', 'degC'),
  ('hum-1',  'Server room humidity',    '%'),
  ('pwr-1',  'Rack A power draw',       'W');

INSERT INTO readings (sensor_id, value) VALUES
  ('temp-1', 21.5), ('hum-1', 40.0), ('pwr-1', 812.0);
