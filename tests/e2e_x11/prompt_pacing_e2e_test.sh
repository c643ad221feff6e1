#!/usr/bin/env bash
# When a not-urgent consent prompt may show (real collector, real agent on
# Xvfb + openbox, zenity, xdotool, wmctrl, reclaimctl):
#  1. a full-screen window in front (_NET_WM_STATE_FULLSCREEN) holds a
#     not-urgent prompt back; it shows as soon as the window leaves full
#     screen (the focus source reports it; no polling);
#  2. an urgent prompt shows over a full-screen window;
#  3. do-not-disturb (GNOME's show-banners = false, read with gsettings)
#     holds a not-urgent prompt back until it is turned off;
#  4. at most one not-urgent prompt per --prompt-min-interval and none within
#     --prompt-quiet-after-urgent of an urgent one, across an agent restart
#     (when prompts were shown is kept in the spool): a third not-urgent
#     prompt waits while an urgent one still shows.
# Usage: prompt_pacing_e2e_test.sh <build dir>
build=$1
source "$(dirname "$0")/prompt_e2e_lib.sh"
command -v gsettings >/dev/null || fail "gsettings missing (deploy/install-deps.sh)"
start_desktop
start_collector
# GNOME settings in a key file of this test (no dconf here).
export GSETTINGS_BACKEND=keyfile XDG_CONFIG_HOME="$work/config"
gsettings set org.gnome.desktop.notifications show-banners true \
  || fail "GNOME notification settings missing (gsettings-desktop-schemas)"
dnd=auto
start_agent

xterm -class PacingTerm >"$work/xterm.log" 2>&1 &
pids+=($!)
poll 20 sh -c 'xdotool search --onlyvisible --class PacingTerm >/dev/null 2>&1' || fail "no xterm"
term=$(xdotool search --onlyvisible --class PacingTerm | head -1)
fullscreen() {  # add|remove
  xdotool windowactivate --sync "$term"
  wmctrl -i -r "$term" -b "$1,fullscreen"
  if [ "$1" = add ]; then
    poll 5 sh -c "xprop -id $term _NET_WM_STATE | grep -q _NET_WM_STATE_FULLSCREEN" \
      || fail "xterm did not go full screen"
  fi
}
# held NAME: the prompt reached the agent and stays off screen for 2 s.
held() {
  expect "$1" "delivered - dev-x11"
  sleep 2  # (a prompt that should not appear: watch for a while)
  no_dialog || fail "$1: the prompt showed although it should wait"
  got "$1" "delivered - dev-x11" || fail "$1: $(state_of "$1")"
}

# 1. Full screen holds a not-urgent prompt back, leaving it lets it show.
fullscreen add
campaign visio --question "Do you still need Microsoft Visio?"
held visio
import -window root "$work/fullscreen.png"
t0=$(date +%s%N)
fullscreen remove
wait_dialog after-fullscreen
echo "shown $(( ($(date +%s%N) - t0) / 1000000 )) ms after leaving full screen"
keys Return
expect visio "answered Yes dev-x11"
dialog_gone

# 2. Urgent: shown over the full-screen window.
fullscreen add
campaign outage --question "Save your work: the file server restarts at 18:00. OK?" \
  --answer OK --answer "Call me" --urgent
wait_dialog urgent
keys Return
expect outage "answered OK dev-x11"
dialog_gone
fullscreen remove

# 3. Do-not-disturb (GNOME: banners off).
gsettings set org.gnome.desktop.notifications show-banners false
campaign acrobat --question "Do you still need Acrobat Pro?"
held acrobat
gsettings set org.gnome.desktop.notifications show-banners true
wait_dialog after-dnd   # within the service's 5 s recheck
keys Escape
expect acrobat "declined - dev-x11"
dialog_gone

# 4. Pacing across a restart: the last not-urgent prompt was just shown.
stop_agent
min_interval=3600 quiet_after_urgent=3600 start_agent
campaign gimp --question "Do you still need GIMP?"
held gimp
campaign restart --question "Restart now for an update?" --urgent
wait_dialog urgent-while-paced
keys Return
expect restart "answered Yes dev-x11"
dialog_gone
sleep 1
no_dialog || fail "gimp showed within the minimum interval"
got gimp "delivered - dev-x11" || fail "gimp: $(state_of gimp)"
echo "PASS"
