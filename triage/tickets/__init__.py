"""The ticket page (/tickets/<id>/): everything known about one ticket, for every role."""
