#!/usr/bin/env bash
# Consent prompts survive restarts and outages (real collector, real agent on
# Xvfb + openbox, zenity, xdotool, reclaimctl):
#  1. the agent is stopped while its prompt is on screen (the dialog goes
#     with it) and started again: the prompt, kept in its spool, shows again;
#     then killed with SIGKILL (the dialog still goes) and started again: the
#     prompt shows once more and the answer reaches the collector;
#  2. the collector is down while the user answers: the answer waits in the
#     agent's spool and reaches the collector when it is back (same port).
# Usage: prompt_outage_e2e_test.sh <build dir>
build=$1
source "$(dirname "$0")/prompt_e2e_lib.sh"
start_desktop
start_collector
start_agent

# 1. Agent restart with a prompt on screen.
campaign visio --question "Do you still need Microsoft Visio?"
wait_dialog before-restart
expect visio "displayed - dev-x11"
stop_agent
! kill -0 "$zpid" 2>/dev/null || fail "the dialog outlived the agent"
xdotool search --onlyvisible --name "IT Service Desk" >/dev/null 2>&1 \
  && fail "a prompt window is still on screen after the agent stopped"
start_agent
wait_dialog after-restart
# 1b. The agent killed (SIGKILL: no clean-up of its own): its dialog must not
# stay on screen answering nobody (PR_SET_PDEATHSIG); after the restart the
# prompt shows again, once.
kill -KILL "$agent_pid"; wait "$agent_pid" 2>/dev/null || true; agent_pid=""
poll 10 sh -c "! kill -0 $zpid 2>/dev/null" || fail "the dialog outlived a killed agent"
start_agent
wait_dialog after-kill
[ "$(xdotool search --onlyvisible --name 'IT Service Desk' | wc -l)" = 1 ] \
  || fail "more than one prompt window on screen"
keys Return
expect visio "answered Yes dev-x11"
dialog_gone

# 2. The collector is down while the user answers.
campaign acrobat --question "Do you still need Acrobat Pro?"
wait_dialog before-outage
expect acrobat "displayed - dev-x11"
port=$agent_port
admin=$admin_port
stop_collector
keys shift+Tab shift+Tab shift+Tab space   # No
dialog_gone
poll 10 grep -q "prompt prompt-2: answered:No" "$work/agent.log" || fail "agent did not record the answer"
sleep 1  # the agent keeps trying to reconnect meanwhile
start_collector "$port" "$admin"
expect acrobat "answered No dev-x11" 30
echo "PASS"
