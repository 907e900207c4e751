DROP INDEX incidents_open_by_urgency;
