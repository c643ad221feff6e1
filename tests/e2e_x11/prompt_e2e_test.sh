#!/usr/bin/env bash
# Consent prompts end to end on a real X server (Xvfb + openbox): the real
# reclaim-collector, the real reclaim-agent metering the display, reclaimctl.
# A campaign launched with `reclaimctl campaigns launch` appears as a real
# dialog window of the agent's zenity child (found with xdotool search
# --onlyvisible --pid, screenshot with import), is answered with xdotool, and
# the answer reaches the collector (reclaimctl campaigns show). Then: decline
# ("Close"); the dialog itself is never metered as an application.
# Other answer states, pacing and outages: prompt_{answers,pacing,outage}_e2e_test.sh.
# Usage: prompt_e2e_test.sh <build dir>
build=$1
source "$(dirname "$0")/prompt_e2e_lib.sh"
start_desktop
start_collector
start_agent

# A real application in front first (the positive control for metering).
xterm -class PromptE2eTerm >"$work/xterm.log" 2>&1 &
pids+=($!)
poll 20 sh -c 'xdotool search --onlyvisible --class PromptE2eTerm >/dev/null 2>&1' || fail "no xterm"
xdotool windowactivate --sync "$(xdotool search --onlyvisible --class PromptE2eTerm | head -1)"

# 1. Yes: Return presses the first answer (the default button).
campaign visio --question "Do you still need Microsoft Visio?"
wait_dialog prompt
[ -z "${RECLAIM_KEEP_SCREENSHOT:-}" ] || cp "$work/prompt.png" "$RECLAIM_KEEP_SCREENSHOT"
# Displayed is reported while the dialog is up.
expect visio "displayed - dev-x11" 10
xdotool windowactivate --sync "$win" mousemove --window "$win" 5 5
sleep 1.5  # the dialog holds the focus for a while (it must not be metered)
keys Return
dialog_gone
expect visio "answered Yes dev-x11"

# 2. Decline: Escape (the dialog's Close).
campaign acrobat --question "Do you still need Acrobat Pro?"
wait_dialog decline
keys Escape
expect acrobat "declined - dev-x11"

# The dialog had the focus for a while: it must not be metered.
stop_agent
usage=$(rc usage --output csv)
echo "$usage" | grep -q xterm || fail "xterm was not metered (no positive control): $usage"
if echo "$usage" | grep -qi zenity; then fail "the prompt dialog was metered: $usage"; fi
echo "PASS"
