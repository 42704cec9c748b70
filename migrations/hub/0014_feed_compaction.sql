-- The daily purge compacts the branch feeds (`retention::RULES`): finding, for each row, a
-- later row of the same entity.
CREATE INDEX branch_feed_entity ON branch_feed (branch_id, entity, entity_id, seq);
