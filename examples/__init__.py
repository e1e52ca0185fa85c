"""The example apps: one folder each (served by `livequery serve --example NAME`), and the client they share."""
