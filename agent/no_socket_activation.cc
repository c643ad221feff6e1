// reclaim-agent links libdbus-1 from its static archive (link_static_deps.sh):
// the shared libdbus-1 pulls in libsystemd and, through it, libgcrypt,
// libgpg-error, liblzma, libzstd, liblz4 and libcap, about 0.8 MB of resident
// memory in every session (issue 3). libdbus-1 calls libsystemd only for
// systemd socket activation of a D-Bus SERVER (dbus-sysdeps-unix.c,
// _dbus_listen_systemd_sockets, reached only from dbus_server_listen() with a
// "systemd:" address); the agent is a D-Bus client only (logind, the
// notification daemon), so these two entry points report what sd-daemon(3)
// reports in a process that was not socket-activated. (Where libdbus-1 has
// no static archive and stays shared, these only stand in for libsystemd's
// own answers in the same non-activated process.)
#include <cerrno>

extern "C" {

// sd_listen_fds(3): no file descriptors were passed.
int sd_listen_fds(int /*unset_environment*/) { return 0; }

// sd_is_socket(3): never reached (no descriptors were passed).
int sd_is_socket(int /*fd*/, int /*family*/, int /*type*/, int /*listening*/) {
  return -ENOSYS;
}

}  // extern "C"
