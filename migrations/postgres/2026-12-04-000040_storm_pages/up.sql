-- Open incidents of one urgency, newest first: the incidents list's open view filtered by
-- urgency pages through it however many incidents of the other urgency are open (a storm of
-- high-urgency alerts and a responder looking for the low ones).
CREATE INDEX incidents_open_by_urgency ON incidents (urgency, id) WHERE status IN (1, 2);
