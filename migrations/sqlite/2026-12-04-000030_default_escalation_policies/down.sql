-- The Default policies stay: they may have been edited, and services and escalations use them.
SELECT 1;
