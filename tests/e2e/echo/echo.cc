// dpcni_test_echo: a small TCP and UDP request/reply server and its clients, for the end-to-end
// tests of Services (traffic through kube-proxy-style NAT in the node's kernel) and for benchmarks.
// One file on libc and libstdc++ only, so that it can go into a test container image as it is.
// IPv4.
//
//   dpcni_test_echo serve [--tcp PORT] [--udp PORT]
//     TCP: answers every HTTP request with 200 and the body "peer=<ip>:<port>\n", the client
//     address the server saw, so that a test can tell whether the path translated it. UDP: answers
//     every datagram with "peer=<ip>:<port> " followed by the datagram (a DNS-like request/reply).
//     Prints "serving tcp=PORT udp=PORT" once the sockets listen, then serves until SIGTERM or
//     SIGINT, on which it exits with status 0 (also as a container's PID 1, which the kernel sends
//     no signal that has no handler).
//   dpcni_test_echo http [--tcp PORT] [--udp PORT]
//     The server of a test pod (the image tools/image/build.sh makes): like serve, but it tells who
//     answered. TCP: GET /healthz answers 200 "ok" (for a readiness probe); any other request
//     answers 200 with "hostname=<name> address=<ip>:<port> peer=<ip>:<port>\n": the server's host
//     name (a pod's name), the address and port the request reached (the pod's, once a Service's
//     NAT is undone) and the client's. UDP: "peer=<ip>:<port> hostname=<name> " followed by the
//     datagram. Without --tcp and --udp it listens on TCP 8080.
//   dpcni_test_echo tcp HOST PORT [--count N] [--keepalive] [--timeout SECONDS]
//                       [--source-port PORT]
//   dpcni_test_echo udp HOST PORT [--count N] [--timeout SECONDS] [--tries N]
//     N request/replies one after the other (default 1), each answered within --timeout (default
//     3 s; UDP sends a request up to --tries times, default 3, within it). Prints the first reply
//     (TCP: its body) and, with --count, "requests=N seconds=S rate=R/s". TCP opens a connection
//     per request (HTTP/1.1, "Connection: close") unless --keepalive sends them all on one.
//     Exit status 0 when every request was answered, 1 with the reason on stderr when one was
//     not, 2 on a usage error. --source-port binds every TCP connection to that local port
//     (SO_REUSEADDR, so one after another may reuse it while the last is in TIME_WAIT): a test's
//     way to open two connections that differ only in their destination.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxRequest = 16 * 1024;  // an HTTP request head larger than this is refused
constexpr int kDefaultHttpPort = 8080;     // http mode without --tcp or --udp

const char kUsage[] =
    "usage: dpcni_test_echo serve [--tcp PORT] [--udp PORT]\n"
    "       dpcni_test_echo http [--tcp PORT] [--udp PORT]   (GET /healthz, or who answered)\n"
    "       dpcni_test_echo tcp HOST PORT [--count N] [--keepalive] [--timeout SECONDS]\n"
    "                           [--source-port PORT]\n"
    "       dpcni_test_echo udp HOST PORT [--count N] [--timeout SECONDS] [--tries N]\n";

struct Options {
  std::string mode;
  std::vector<std::string> positional;
  int tcp_port = 0;  // serve: 0 is off
  int udp_port = 0;
  long count = 1;
  bool keepalive = false;
  double timeout_s = 3;
  long tries = 3;
  int source_port = 0;  // tcp: 0 lets the kernel pick
};

[[noreturn]] void UsageError(const std::string& message) {
  std::fprintf(stderr, "dpcni_test_echo: %s\n%s", message.c_str(), kUsage);
  std::exit(2);
}

long ParseInteger(const std::string& flag, const std::string& text, long min, long max) {
  char* end = nullptr;
  errno = 0;
  const long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < min || value > max) {
    UsageError(flag + ": expected an integer in [" + std::to_string(min) + ", " +
               std::to_string(max) + "], got \"" + text + "\"");
  }
  return value;
}

Options ParseOptions(int argc, char** argv) {
  if (argc < 2) UsageError("no mode given");
  Options options;
  options.mode = argv[1];
  if (options.mode != "serve" && options.mode != "http" && options.mode != "tcp" &&
      options.mode != "udp") {
    UsageError("unknown mode \"" + options.mode + "\"");
  }
  const std::vector<std::string> valued = {"--tcp",     "--udp",   "--count",
                                           "--timeout", "--tries", "--source-port"};
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      options.positional.push_back(arg);
      continue;
    }
    if (arg == "--keepalive") {
      options.keepalive = true;
      continue;
    }
    std::string value;
    if (const size_t equals = arg.find('='); equals != std::string::npos) {
      value = arg.substr(equals + 1);
      arg = arg.substr(0, equals);
    } else if (std::find(valued.begin(), valued.end(), arg) != valued.end()) {
      if (i + 1 == argc) UsageError(arg + " needs a value");
      value = argv[++i];
    }
    if (std::find(valued.begin(), valued.end(), arg) == valued.end()) {
      UsageError("unknown flag " + arg);
    }
    if (arg == "--tcp") options.tcp_port = ParseInteger(arg, value, 1, 65535);
    if (arg == "--udp") options.udp_port = ParseInteger(arg, value, 1, 65535);
    if (arg == "--count") options.count = ParseInteger(arg, value, 1, 1'000'000'000);
    if (arg == "--tries") options.tries = ParseInteger(arg, value, 1, 100);
    if (arg == "--source-port") options.source_port = ParseInteger(arg, value, 1, 65535);
    if (arg == "--timeout") {
      char* end = nullptr;
      options.timeout_s = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(options.timeout_s > 0)) {
        UsageError("--timeout: expected a positive number of seconds, got \"" + value + "\"");
      }
    }
  }
  if (options.mode == "serve" || options.mode == "http") {
    if (!options.positional.empty()) UsageError(options.mode + " takes no HOST or PORT");
    if (options.tcp_port == 0 && options.udp_port == 0) {
      if (options.mode == "serve") UsageError("serve needs --tcp or --udp");
      options.tcp_port = kDefaultHttpPort;
    }
  } else {
    if (options.positional.size() != 2) UsageError(options.mode + " needs HOST and PORT");
    if (options.tcp_port != 0 || options.udp_port != 0) {
      UsageError("--tcp and --udp are for serve");
    }
    if (options.source_port != 0 && options.mode != "tcp") UsageError("--source-port is for tcp");
  }
  return options;
}

std::string Describe(const sockaddr_in& address) {
  char ip[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &address.sin_addr, ip, sizeof(ip));
  return std::string(ip) + ":" + std::to_string(ntohs(address.sin_port));
}

[[noreturn]] void Fatal(const std::string& what) {
  std::fprintf(stderr, "dpcni_test_echo: %s: %s\n", what.c_str(), std::strerror(errno));
  std::exit(1);
}

// ---------------------------------------------------------------------------------------------
// serve

int Listen(int type, int port) {
  const int fd = ::socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Fatal("socket");
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  address.sin_port = htons(static_cast<uint16_t>(port));
  const std::string what = (type == SOCK_STREAM ? "tcp port " : "udp port ") + std::to_string(port);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    Fatal("bind " + what);
  }
  if (type == SOCK_STREAM && ::listen(fd, 1024) != 0) Fatal("listen " + what);
  return fd;
}

struct Connection {
  std::string peer;
  std::string local;  // the address and port the client connected to
  std::string in;     // received, not yet answered
};

// What the server says about itself: nothing in serve mode, its name in http mode.
struct Server {
  bool tells_who = false;
  std::string hostname;
};

// "/healthz" of "GET /healthz HTTP/1.1".
std::string RequestTarget(const std::string& head) {
  const std::string request_line = head.substr(0, head.find("\r\n"));
  const size_t start = request_line.find(' ');
  if (start == std::string::npos) return "";
  const size_t end = request_line.find(' ', start + 1);
  return request_line.substr(start + 1, end == std::string::npos ? end : end - start - 1);
}

std::string ResponseBody(const Server& server, const Connection& connection,
                         const std::string& head) {
  if (!server.tells_who) return "peer=" + connection.peer + "\n";
  if (RequestTarget(head) == "/healthz") return "ok\n";
  return "hostname=" + server.hostname + " address=" + connection.local +
         " peer=" + connection.peer + "\n";
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// HTTP/1.1 keeps the connection unless the request says "close"; HTTP/1.0 only when it asks.
bool KeepsAlive(const std::string& head) {
  const std::string lower = Lower(head);
  const std::string request_line = lower.substr(0, lower.find("\r\n"));
  if (request_line.find("http/1.1") != std::string::npos) {
    return lower.find("\r\nconnection: close") == std::string::npos;
  }
  return lower.find("\r\nconnection: keep-alive") != std::string::npos;
}

// Answers every complete request in the connection's buffer; false when the connection ends.
bool AnswerRequests(int fd, Connection& connection, const Server& server) {
  size_t end;
  while ((end = connection.in.find("\r\n\r\n")) != std::string::npos) {
    const std::string head = connection.in.substr(0, end);
    connection.in.erase(0, end + 4);  // a GET has no body; anything else is not ours to serve
    const bool keep = KeepsAlive(head);
    const std::string body = ResponseBody(server, connection, head);
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                                 std::to_string(body.size()) +
                                 "\r\nConnection: " + (keep ? "keep-alive" : "close") + "\r\n\r\n" +
                                 body;
    // The client waits for each answer before it asks again, so the socket's send buffer is empty
    // and takes the small response whole; a short send means a client that does not read. No
    // SIGPIPE (MSG_NOSIGNAL) when the client has gone: that would kill the server.
    if (::send(fd, response.data(), response.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(response.size())) {
      return false;
    }
    if (!keep) return false;
  }
  return connection.in.size() <= kMaxRequest;
}

void AnswerDatagrams(int fd, const Server& server) {
  static char buffer[65536];
  while (true) {
    sockaddr_in peer{};
    socklen_t length = sizeof(peer);
    const ssize_t n =
        ::recvfrom(fd, buffer, sizeof(buffer), 0, reinterpret_cast<sockaddr*>(&peer), &length);
    if (n < 0) return;  // EAGAIN: all read (or an ICMP error of an earlier reply: nothing to do)
    // The reply leaves from the address routing picks, which is the one the request came to on a
    // host with one address (a pod); a multi-homed server would answer from IP_PKTINFO's.
    std::string reply = "peer=" + Describe(peer) + " ";
    if (server.tells_who) reply += "hostname=" + server.hostname + " ";
    reply.append(buffer, static_cast<size_t>(n));
    ::sendto(fd, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&peer), length);
  }
}

volatile sig_atomic_t stop_signal = 0;

void OnStopSignal(int signal_number) { stop_signal = signal_number; }

// SIGTERM and SIGINT stop the server. A container's main process is PID 1 of its PID namespace,
// and the kernel drops signals to it that it has no handler for: without one, a pod would wait its
// whole grace period to be killed. The signals stay blocked except inside ppoll, so that one
// arriving between the check of stop_signal and the wait cannot be missed. Returns the mask ppoll
// waits with.
sigset_t HandleStopSignals() {
  struct sigaction action {};
  action.sa_handler = OnStopSignal;
  sigemptyset(&action.sa_mask);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  for (const int signal_number : {SIGTERM, SIGINT}) {
    ::sigaction(signal_number, &action, nullptr);
    sigaddset(&stop_signals, signal_number);
  }
  sigset_t waiting;
  ::sigprocmask(SIG_BLOCK, &stop_signals, &waiting);
  sigdelset(&waiting, SIGTERM);
  sigdelset(&waiting, SIGINT);
  return waiting;
}

int Serve(const Options& options) {
  Server server;
  if (options.mode == "http") {
    server.tells_who = true;
    char hostname[256] = {};
    if (::gethostname(hostname, sizeof(hostname) - 1) != 0) Fatal("gethostname");
    server.hostname = hostname;
  }
  const sigset_t waiting = HandleStopSignals();
  const int tcp = options.tcp_port ? Listen(SOCK_STREAM, options.tcp_port) : -1;
  const int udp = options.udp_port ? Listen(SOCK_DGRAM, options.udp_port) : -1;
  // stdout may be a file (a test's log): flushed, so that whoever waits for this line sees it.
  std::printf("serving tcp=%d udp=%d\n", options.tcp_port, options.udp_port);
  std::fflush(stdout);
  std::map<int, Connection> connections;
  std::vector<pollfd> fds;
  while (true) {
    if (stop_signal != 0) {
      std::printf("stopping on signal %d\n", static_cast<int>(stop_signal));
      return 0;
    }
    fds.clear();
    if (tcp >= 0) fds.push_back({tcp, POLLIN, 0});
    if (udp >= 0) fds.push_back({udp, POLLIN, 0});
    for (const auto& [fd, connection] : connections) fds.push_back({fd, POLLIN, 0});
    if (::ppoll(fds.data(), fds.size(), nullptr, &waiting) < 0) {
      if (errno == EINTR) continue;
      Fatal("poll");
    }
    for (const pollfd& ready : fds) {
      if (ready.revents == 0) continue;
      if (ready.fd == udp) {
        AnswerDatagrams(udp, server);
      } else if (ready.fd == tcp) {
        sockaddr_in peer{};
        socklen_t length = sizeof(peer);
        int fd;
        while ((fd = ::accept4(tcp, reinterpret_cast<sockaddr*>(&peer), &length,
                               SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
          Connection& connection = connections[fd];
          connection.peer = Describe(peer);
          sockaddr_in local{};
          socklen_t local_length = sizeof(local);
          ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_length);
          connection.local = Describe(local);
          length = sizeof(peer);
        }
      } else {
        Connection& connection = connections[ready.fd];
        char buffer[4096];
        const ssize_t n = ::recv(ready.fd, buffer, sizeof(buffer), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n > 0) connection.in.append(buffer, static_cast<size_t>(n));
        if (n <= 0 || !AnswerRequests(ready.fd, connection, server)) {
          ::close(ready.fd);
          connections.erase(ready.fd);
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// clients

class Deadline {
 public:
  explicit Deadline(double seconds)
      : end_(Clock::now() +
             std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds))) {}
  // Milliseconds left for poll(), 0 once passed.
  int Remaining() const {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(end_ - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
  }

 private:
  Clock::time_point end_;
};

// Waits for `events` on fd; false once the deadline passes.
bool WaitFor(int fd, short events, const Deadline& deadline) {
  while (true) {
    pollfd entry = {fd, events, 0};
    const int ready = ::poll(&entry, 1, deadline.Remaining());
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) Fatal("poll");
  }
}

sockaddr_in Resolve(const std::string& host, const std::string& port_text) {
  const long port = ParseInteger("PORT", port_text, 1, 65535);
  addrinfo hints{};
  hints.ai_family = AF_INET;
  addrinfo* found = nullptr;
  if (const int error = ::getaddrinfo(host.c_str(), nullptr, &hints, &found); error != 0) {
    std::fprintf(stderr, "dpcni_test_echo: cannot resolve %s: %s\n", host.c_str(),
                 ::gai_strerror(error));
    std::exit(1);
  }
  sockaddr_in address = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
  ::freeaddrinfo(found);
  address.sin_port = htons(static_cast<uint16_t>(port));
  return address;
}

std::string Seconds(double seconds) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g s", seconds);
  return text;
}

// A connected TCP socket, or -1 with the reason.
int Connect(const sockaddr_in& server, const Options& options, const Deadline& deadline,
            std::string* error) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) Fatal("socket");
  if (options.source_port != 0) {
    const int on = 1;
    sockaddr_in local{};
    local.sin_family = AF_INET;
    local.sin_port = htons(static_cast<uint16_t>(options.source_port));
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        ::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof(local)) != 0) {
      *error = "bind to port " + std::to_string(options.source_port) + ": " + std::strerror(errno);
      ::close(fd);
      return -1;
    }
  }
  int result = ::connect(fd, reinterpret_cast<const sockaddr*>(&server), sizeof(server));
  if (result != 0 && errno == EINPROGRESS) {
    if (!WaitFor(fd, POLLOUT, deadline)) {
      errno = ETIMEDOUT;
    } else {
      socklen_t length = sizeof(result);
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &result, &length);
      errno = result;
    }
  }
  if (result != 0) {
    *error = "connect: " + (errno == ETIMEDOUT ? "no answer within " + Seconds(options.timeout_s)
                                               : std::string(std::strerror(errno)));
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends one GET and reads the response; its body, or nullopt with the reason.
std::optional<std::string> Get(int fd, const Options& options, const Deadline& deadline,
                               std::string* error) {
  const std::string request = "GET / HTTP/1.1\r\nHost: " + options.positional[0] +
                              "\r\nConnection: " + (options.keepalive ? "keep-alive" : "close") +
                              "\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    *error = "send: " + std::string(std::strerror(errno));
    return std::nullopt;
  }
  std::string in;
  size_t head_end = std::string::npos;
  size_t body_length = 0;
  while (head_end == std::string::npos || in.size() < head_end + 4 + body_length) {
    if (!WaitFor(fd, POLLIN, deadline)) {
      *error = "no response within " + Seconds(options.timeout_s);
      return std::nullopt;
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      *error = n == 0 ? "connection closed before the response was complete"
                      : "recv: " + std::string(std::strerror(errno));
      return std::nullopt;
    }
    in.append(buffer, static_cast<size_t>(n));
    if (head_end == std::string::npos && (head_end = in.find("\r\n\r\n")) != std::string::npos) {
      const std::string head = Lower(in.substr(0, head_end));
      if (head.rfind("http/1.", 0) != 0 || head.find(" 200 ") == std::string::npos) {
        *error = "unexpected response: " + in.substr(0, in.find("\r\n"));
        return std::nullopt;
      }
      const size_t length = head.find("\r\ncontent-length:");
      if (length == std::string::npos) {
        *error = "response without Content-Length";
        return std::nullopt;
      }
      body_length = std::strtoul(head.c_str() + length + 17, nullptr, 10);
    }
  }
  return in.substr(head_end + 4, body_length);
}

// One UDP request/reply on a connected socket; the reply, or nullopt with the reason.
std::optional<std::string> Exchange(int fd, const std::string& payload, const Options& options,
                                    std::string* error) {
  char buffer[65536];
  for (long attempt = 0; attempt < options.tries; ++attempt) {
    if (::send(fd, payload.data(), payload.size(), 0) < 0) {
      *error = "send: " + std::string(std::strerror(errno));
      return std::nullopt;
    }
    const Deadline deadline(options.timeout_s / static_cast<double>(options.tries));
    while (WaitFor(fd, POLLIN, deadline)) {
      const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) continue;
        // An ICMP error (port unreachable: ECONNREFUSED) reported on the connected socket.
        *error = "recv: " + std::string(std::strerror(errno));
        return std::nullopt;
      }
      std::string reply(buffer, static_cast<size_t>(n));
      // A late answer to an earlier request (one retried) is not this one's.
      if (reply.rfind("peer=", 0) == 0 && reply.size() >= payload.size() &&
          reply.compare(reply.size() - payload.size(), payload.size(), payload) == 0) {
        return reply;
      }
    }
  }
  *error = "no reply to " + std::to_string(options.tries) + " tries within " +
           Seconds(options.timeout_s);
  return std::nullopt;
}

int Client(const Options& options) {
  const sockaddr_in server = Resolve(options.positional[0], options.positional[1]);
  const std::string target = options.mode + " " + Describe(server);
  int udp = -1;
  if (options.mode == "udp") {
    udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (udp < 0) Fatal("socket");
    // Connected, the socket only takes datagrams from the address and port it sends to, as a DNS
    // resolver checks its answers: a reply whose NAT was not reversed (from the pod's own address
    // rather than the Service's) must not count as an answer.
    if (::connect(udp, reinterpret_cast<const sockaddr*>(&server), sizeof(server)) != 0) {
      Fatal("connect " + target);
    }
  }
  int kept = -1;  // the --keepalive connection
  const auto start = Clock::now();
  for (long i = 0; i < options.count; ++i) {
    std::string error;
    std::optional<std::string> reply;
    if (udp >= 0) {
      const std::string payload =
          "request " + std::to_string(::getpid()) + "-" + std::to_string(i) + "\n";
      reply = Exchange(udp, payload, options, &error);
    } else {
      const Deadline deadline(options.timeout_s);
      int fd = kept >= 0 ? kept : Connect(server, options, deadline, &error);
      if (fd >= 0) {
        reply = Get(fd, options, deadline, &error);
        if (options.keepalive && reply) {
          kept = fd;
        } else {
          ::close(fd);
          kept = -1;
        }
      }
    }
    if (!reply) {
      std::fprintf(stderr, "dpcni_test_echo: %s: request %ld of %ld: %s\n", target.c_str(), i + 1,
                   options.count, error.c_str());
      return 1;
    }
    if (i == 0) {
      std::fputs(reply->c_str(), stdout);
      if (reply->empty() || reply->back() != '\n') std::fputc('\n', stdout);
    }
  }
  if (options.count > 1) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("requests=%ld seconds=%.3f rate=%.0f/s\n", options.count, seconds,
                static_cast<double>(options.count) / seconds);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseOptions(argc, argv);
  return options.mode == "serve" || options.mode == "http" ? Serve(options) : Client(options);
}
