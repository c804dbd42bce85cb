"""The Slack app: `/oncall`, mentions and the App Home, answered from the sync loop's snapshot.

``snapshot.py`` keeps what the last pass learnt; ``answers.py`` turns (query, snapshot) into a
message, purely; ``bolt.py`` wires that into Bolt; ``runner.py`` carries it over HTTP or Socket Mode.
"""
