-- The last call: a visitor following by SMS hears when the node calls them once more at the
-- end of their grace to reach the counter.
ALTER TABLE follow_alert ADD COLUMN recalled_sent_at timestamptz;
