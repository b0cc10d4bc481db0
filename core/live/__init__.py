"""The live feed's shared half: the processor's announcements of online writes (`messages`),
reading them from Redis pub/sub (`feed`), entities followed from their Feast values on
(`entities`), and rates and freshness (`stats`). `watch` and the scoring API's page read it."""
