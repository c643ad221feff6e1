#!/usr/bin/env bash
# Consent prompts end to end, every answer state (the real collector, the real
# agent on Xvfb + openbox, zenity dialogs answered with xdotool, checked with
# reclaimctl): No through its button; "Remind me later" then, when the
# postpone delay is over, the prompt again and Yes; a prompt nobody answers
# (the collector times it out and takes the dialog down); two reclamation
# questions in ONE dialog with one answer per application (zenity --forms),
# each answer going back to its own campaign. (Yes and decline:
# prompt_e2e_test.sh.)
# Usage: prompt_answers_e2e_test.sh <build dir>
build=$1
source "$(dirname "$0")/prompt_e2e_lib.sh"
start_desktop
start_collector
start_agent

# 1. No: the GTK button row is No, Remind me later, Close, Yes (default).
campaign acrobat --question "Do you still need Acrobat Pro?"
wait_dialog no
keys shift+Tab shift+Tab shift+Tab space
expect acrobat "answered No dev-x11"
dialog_gone

# 2. Remind me later, then asked again after the postpone delay (2 s): Yes.
campaign project --question "Do you still need Microsoft Project?" --postpone-seconds 2
wait_dialog postpone
keys shift+Tab shift+Tab space
expect project "postponed - dev-x11"
dialog_gone
wait_dialog postpone-again
keys Return
expect project "answered Yes dev-x11"
dialog_gone

# 3. Nobody answers: after the answer wait (4 s) the collector times the
# response out and withdraws the prompt; the dialog goes away.
campaign snagit --question "Do you still need Snagit?" --wait-seconds 4
wait_dialog timeout
expect snagit "timed_out - dev-x11" 20
dialog_gone

# 4. Two pending reclamation questions: one dialog, one combo per application.
# Launched while a free-form prompt is on screen, so both are pending together.
campaign hold --question "Please confirm you read the new policy." --answer OK --answer Later
wait_dialog hold
campaign visio --question "Do you still need Microsoft Visio?" --application "Microsoft Visio"
campaign gimp --question "Do you still need GIMP?" --application "GIMP"
# Both reach the agent (stored in its spool) before the first is answered.
expect visio "delivered - dev-x11"
expect gimp "delivered - dev-x11"
keys Return
expect hold "answered OK dev-x11"
poll 20 dialog || fail "no combined prompt"
wait_dialog combined
# The first combo has the focus: Down picks Yes; Tab, Down Down picks No.
keys Down Tab Down Down
click_button 3   # Send (the middle button)
expect visio "answered Yes dev-x11"
expect gimp "answered No dev-x11"
grep -q "showing 2 reclamation prompts in one dialog" "$work/agent.log" \
  || fail "the two questions were not combined"
echo "PASS"
