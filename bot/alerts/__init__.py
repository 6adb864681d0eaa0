"""Alert intake and the sink-neutral view of an incident (:mod:`bot.alerts.view`)."""
