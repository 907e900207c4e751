UPDATE users SET time_zone = 'UTC' WHERE time_zone = '';
