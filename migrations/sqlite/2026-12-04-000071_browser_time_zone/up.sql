-- Until now every account held the column's default, UTC, whether or not its owner chose it;
-- an empty zone now means "the browser's" (docs/decisions.md). Someone who wants UTC whatever
-- the browser says chooses it again on Settings.
UPDATE users SET time_zone = '' WHERE time_zone = 'UTC';
