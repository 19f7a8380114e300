"""SLA timers: started, met and paused with the conversation; warnings and breaches
published by the scheduler."""
