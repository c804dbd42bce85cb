"""The Slack app: `/oncall`, mentions and the App Home, answered from the sync loop's snapshot.

``snapshot.py`` keeps what the last pass learnt; ``query.py`` reads what was asked, ``names.py``
finds the name meant, ``answers.py`` and ``home.py`` turn it into a message, purely, laid out by
``render.py``; ``handlers.py`` holds one function per Bolt listener and ``bolt.py`` registers
them; ``live.py`` runs the slow work off the ack's path; ``personal.py`` and ``take*.py`` answer
for the asker (`/oncall me`, take, give-back); ``signed.py`` guards ``/slack/events``;
``runner.py`` carries it all over HTTP or Socket Mode.
"""
