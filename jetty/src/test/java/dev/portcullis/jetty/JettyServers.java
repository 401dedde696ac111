package dev.portcullis.jetty;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.ConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/** A real Jetty 12 server on 127.0.0.1 with a handler that counts requests and answers the client's address. */
final class JettyServers implements AutoCloseable {
  final Server server;
  final ServerConnector connector;
  final AtomicInteger handled = new AtomicInteger();

  /** A server not started yet, its connector on 127.0.0.1 with {@code factories} (HTTP/1.1 if none). */
  JettyServers(ConnectionFactory... factories) {
    QueuedThreadPool threads = new QueuedThreadPool(32, 4);
    threads.setName("jetty-test");
    server = new Server(threads);
    connector = factories.length == 0 ? new ServerConnector(server, 1, 1, new HttpConnectionFactory())
        : new ServerConnector(server, 1, 1, factories);
    connector.setHost("127.0.0.1");
    connector.setPort(0);
    server.addConnector(connector);
    server.setHandler(new Handler.Abstract() {
      @Override
      public boolean handle(Request request, Response response, Callback callback) {
        handled.incrementAndGet();
        response.setStatus(200);
        Content.Sink.write(response, true, Request.getRemoteAddr(request) + "\n", callback);
        return true;
      }
    });
  }

  JettyServers start() throws Exception {
    server.start();
    return this;
  }

  InetSocketAddress address() {
    return new InetSocketAddress("127.0.0.1", connector.getLocalPort());
  }

  @Override
  public void close() throws Exception {
    server.stop();
  }

  /** A socket from {@code from} (any 127.0.0.0/8 address), connected to {@code to}. */
  static Socket connect(String from, InetSocketAddress to) throws IOException {
    Socket s = new Socket();
    try {
      s.bind(new InetSocketAddress(from, 0));
      s.connect(to, 5_000);
      s.setSoTimeout(10_000);
      return s;
    } catch (IOException e) {
      s.close();
      throw e;
    }
  }

  /**
   * Sends one GET from {@code from} and returns the response's body (the address the handler saw),
   * or null if the server closed the connection without a response.
   */
  static String get(String from, InetSocketAddress to) throws IOException {
    try (Socket s = connect(from, to)) {
      return get(s);
    }
  }

  /** One GET on an open socket, as {@link #get(String, InetSocketAddress)}. */
  static String get(Socket s) throws IOException {
    try {
      s.getOutputStream().write("GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
          .getBytes(StandardCharsets.US_ASCII));
      s.getOutputStream().flush();
      String response = readAll(s.getInputStream());
      if (response.isEmpty()) {
        return null;
      }
      if (!response.startsWith("HTTP/1.1 200")) {
        throw new AssertionError("not a 200: " + response);
      }
      return response.substring(response.indexOf("\r\n\r\n") + 4).trim();
    } catch (java.net.SocketException e) { // reset: closed unread
      return null;
    }
  }

  static String readAll(InputStream in) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    byte[] buf = new byte[4096];
    int n;
    while ((n = in.read(buf)) >= 0) {
      out.write(buf, 0, n);
    }
    return out.toString(StandardCharsets.US_ASCII);
  }

  static boolean await(BooleanSupplier condition, Duration timeout) throws InterruptedException {
    long end = System.nanoTime() + timeout.toNanos();
    while (System.nanoTime() < end) {
      if (condition.getAsBoolean()) {
        return true;
      }
      Thread.sleep(10);
    }
    return condition.getAsBoolean();
  }
}
