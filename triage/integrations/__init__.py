"""Channels in and out: IMAP mailboxes and helpdesk webhooks bring tickets in
(`mail`, `helpdesks`, both through `triage.services.ticket_ingest`), and the outbox
sends decisions out to registered endpoints (`outbox`). Pages under /integrations/."""
