package dev.portcullis.bench.servers;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Iterator;

/**
 * The JDK NIO bench server: one {@link Selector} thread, the same policy object for decisions,
 * the {@code HELLO} line, reply and echo, written as a careful NIO server would be.
 */
public final class NioServer {
  private NioServer() {}

  /** Per-connection state: the handshake line so far, and output the socket did not take. */
  private static final class Conn {
    final ByteBuffer line = ByteBuffer.allocate(16);
    boolean handshaken;
    ByteBuffer pending;
  }

  public static void main(String[] args) throws Exception {
    ServerMain m = ServerMain.parse(args);
    Selector selector = Selector.open();
    ServerSocketChannel server = ServerSocketChannel.open();
    server.bind(new InetSocketAddress("127.0.0.1", m.port), ServerMain.BACKLOG);
    server.configureBlocking(false);
    server.register(selector, SelectionKey.OP_ACCEPT);
    ByteBuffer buffer = ByteBuffer.allocateDirect(64 * 1024);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      try {
        server.close();
      } catch (IOException ignored) {
        // exiting anyway
      }
    }));
    ServerMain.ready(((InetSocketAddress) server.getLocalAddress()).getPort());
    while (server.isOpen()) {
      selector.select();
      Iterator<SelectionKey> keys = selector.selectedKeys().iterator();
      while (keys.hasNext()) {
        SelectionKey key = keys.next();
        keys.remove();
        try {
          if (!key.isValid()) {
            continue;
          }
          if (key.isAcceptable()) {
            SocketChannel c;
            while ((c = server.accept()) != null) {
              InetSocketAddress peer = (InetSocketAddress) c.getRemoteAddress();
              if (!m.policy.decide(peer.getAddress()).isAllowed()) {
                c.close();
                continue;
              }
              c.configureBlocking(false);
              c.setOption(StandardSocketOptions.TCP_NODELAY, true);
              c.register(selector, SelectionKey.OP_READ, new Conn());
            }
          } else if (key.isWritable()) {
            flush(key);
          } else if (key.isReadable()) {
            read(key, buffer, m.echo);
          }
        } catch (IOException e) {
          key.channel().close();
        }
      }
    }
  }

  private static void read(SelectionKey key, ByteBuffer buffer, boolean echo) throws IOException {
    SocketChannel c = (SocketChannel) key.channel();
    Conn conn = (Conn) key.attachment();
    buffer.clear();
    int n = c.read(buffer);
    if (n < 0) {
      c.close();
      return;
    }
    buffer.flip();
    if (!conn.handshaken) {
      while (buffer.hasRemaining()) {
        byte b = buffer.get();
        if (b == '\n') {
          conn.line.flip();
          if (conn.line.remaining() != 5 || conn.line.get(0) != 'H' || conn.line.get(1) != 'E'
              || conn.line.get(2) != 'L' || conn.line.get(3) != 'L' || conn.line.get(4) != 'O') {
            c.close();
            return;
          }
          conn.handshaken = true;
          c.write(ByteBuffer.wrap(ServerMain.OK));
          if (!echo) {
            c.close();
            return;
          }
          break;
        }
        if (!conn.line.hasRemaining()) {
          c.close();
          return;
        }
        conn.line.put(b);
      }
    }
    if (buffer.hasRemaining()) {
      c.write(buffer);
      if (buffer.hasRemaining()) {
        conn.pending = ByteBuffer.allocate(buffer.remaining()).put(buffer).flip();
        key.interestOps(SelectionKey.OP_WRITE);
      }
    }
  }

  private static void flush(SelectionKey key) throws IOException {
    SocketChannel c = (SocketChannel) key.channel();
    Conn conn = (Conn) key.attachment();
    c.write(conn.pending);
    if (!conn.pending.hasRemaining()) {
      conn.pending = null;
      key.interestOps(SelectionKey.OP_READ);
    }
  }
}
