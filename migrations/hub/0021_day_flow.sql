-- A sede's day as its supervisor reads it: per service the walk to the counter after a call,
-- the service time, the share of counters open, no-shows and recalls, and the pause time by
-- reason (the queue engine's `DailyFigures` without its per-counter rows: figures here are
-- never per counter, so never per operator). Empty for days recorded before.
ALTER TABLE day_figures ADD COLUMN flow jsonb;
