"""The example project: a demo page that drives the SuperTokens browser SDK against this app."""
