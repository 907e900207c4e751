DROP INDEX alerts_by_entity;
