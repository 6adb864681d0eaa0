"""The only modules that talk to the outside world. Every call has a timeout, and every
failure surfaces as `bot.errors.SourceError` with a short human reason."""
