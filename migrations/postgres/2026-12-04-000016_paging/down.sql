DROP TABLE notification_attempts;
DROP TABLE notifications;
DROP TABLE escalation_steps;
DROP TABLE escalations;
