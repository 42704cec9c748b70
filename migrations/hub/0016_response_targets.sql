-- Area Contatti's promise: when the sede first answered a request (a reply, or closing it),
-- which stops its clock; and when it ran so late that it went to the sede's supervisor.
ALTER TABLE contact_request
    ADD COLUMN answered_at   timestamptz,
    ADD COLUMN escalated_at  timestamptz;
UPDATE contact_request r SET answered_at = coalesce(
    (SELECT min(m.at) FROM contact_message m
     WHERE m.branch_id = r.branch_id AND m.request_id = r.id AND m.direction = 'out'),
    CASE WHEN r.state = 'chiusa' THEN r.updated_at END);
-- The escalation sweep reads only the requests still waiting for an answer.
CREATE INDEX contact_request_waiting ON contact_request (branch_id, created_at)
    WHERE answered_at IS NULL;
