// x11_burst: creates and destroys top-level windows at a given rate on
// $DISPLAY, to stress a focus watcher with windows that vanish while it
// queries them. Each window has WM_CLASS "x11_burst", "Burst" and is mapped,
// kept for about half its period, then destroyed.
// Usage: x11_burst WINDOWS_PER_SECOND SECONDS
#include <xcb/xcb.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: x11_burst WINDOWS_PER_SECOND SECONDS\n");
    return 2;
  }
  const int rate = std::atoi(argv[1]);
  const int seconds = std::atoi(argv[2]);
  if (rate <= 0 || seconds <= 0) return 2;
  int screen_num = 0;
  xcb_connection_t* c = xcb_connect(nullptr, &screen_num);
  if (xcb_connection_has_error(c)) {
    std::fprintf(stderr, "x11_burst: cannot connect to $DISPLAY\n");
    return 1;
  }
  xcb_screen_iterator_t it = xcb_setup_roots_iterator(xcb_get_setup(c));
  for (int i = 0; i < screen_num; ++i) xcb_screen_next(&it);
  xcb_screen_t* screen = it.data;
  const auto period = std::chrono::microseconds(1000000 / rate);
  const auto start = std::chrono::steady_clock::now();
  const char klass[] = "x11_burst\0Burst";
  long made = 0;
  for (long i = 0; i < static_cast<long>(rate) * seconds; ++i) {
    const xcb_window_t w = xcb_generate_id(c);
    xcb_create_window(c, XCB_COPY_FROM_PARENT, w, screen->root, 10 + (i % 50) * 5, 10, 200, 100,
                      0, XCB_WINDOW_CLASS_INPUT_OUTPUT, screen->root_visual, 0, nullptr);
    xcb_change_property(c, XCB_PROP_MODE_REPLACE, w, XCB_ATOM_WM_CLASS, XCB_ATOM_STRING, 8,
                        sizeof(klass), klass);
    xcb_map_window(c, w);
    xcb_flush(c);
    std::this_thread::sleep_until(start + period * i + period / 2);
    xcb_destroy_window(c, w);
    xcb_flush(c);
    ++made;
    std::this_thread::sleep_until(start + period * (i + 1));  // pacing, not a wait for a condition
    if (xcb_connection_has_error(c)) break;
  }
  std::printf("%ld windows\n", made);
  xcb_disconnect(c);
  return 0;
}
