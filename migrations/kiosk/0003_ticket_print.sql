-- Tickets that reached paper. Kiosk-local (never synced): after a power cut between a ticket's
-- commit and its printing, the kiosk finds the ticket here missing and offers to print it again,
-- never a second number.
CREATE TABLE ticket_print (
    business_day  TEXT NOT NULL,
    ticket        TEXT NOT NULL,
    printed_at    TEXT NOT NULL,
    PRIMARY KEY (business_day, ticket)
) STRICT;
