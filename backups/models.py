# Manual backups, restore operations and retention arrive with the backups issue.
