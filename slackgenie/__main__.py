from slackgenie.entry import run

run()
