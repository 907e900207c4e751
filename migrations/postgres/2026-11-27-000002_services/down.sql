DROP TABLE integration_audit;
DROP TABLE integrations;
DROP TABLE services;
DROP TABLE team_members;
DROP TABLE teams;
