"""Seed 000 as an app: event registration with a waitlist, sessions, feedback and live notifications."""
