package dev.portcullis.jna;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;

/**
 * The {@code bpf(2)} commands the eBPF kernel filter needs, each with its {@code union bpf_attr}
 * laid out by hand in native memory (the field offsets are the kernel's UAPI, stable since they
 * were added). Every call returns a descriptor or a value, or throws {@link BpfException} naming
 * the command and the errno; a refused program carries the verifier's log.
 */
final class Bpf {
  private Bpf() {}

  static final int MAP_CREATE = 0;
  static final int MAP_UPDATE_ELEM = 2;
  static final int PROG_LOAD = 5;
  static final int PROG_TEST_RUN = 10;
  static final int MAP_UPDATE_BATCH = 26;

  static final int MAP_TYPE_ARRAY_OF_MAPS = 12;
  static final int MAP_TYPE_LPM_TRIE = 11;
  static final int PROG_TYPE_SOCKET_FILTER = 1;
  /** An LPM trie must be created with it: entries are allocated as they are added. */
  static final int F_NO_PREALLOC = 1;
  /** setsockopt(SOL_SOCKET): attach an eBPF program by descriptor, replacing any filter. */
  static final int SO_ATTACH_BPF = 50;
  /** setsockopt(SOL_SOCKET): remove the socket's filter, classic or eBPF. */
  static final int SO_DETACH_FILTER = 27;

  /** A refused {@code bpf(2)} command. */
  static final class BpfException extends Exception {
    private static final long serialVersionUID = 1L;
    final int errno;

    BpfException(String command, int errno, String detail) {
      super(Errors.message("bpf(" + command + ")", errno)
          + (detail == null || detail.isEmpty() ? "" : ": " + detail));
      this.errno = errno;
    }
  }

  private static long call(int command, Memory attr, String name, String detail) throws BpfException {
    long r = LibC.syscall(LibC.SYS_BPF, command, Pointer.nativeValue(attr), attr.size());
    if (r < 0) {
      throw new BpfException(name, Errors.lastErrno(), detail);
    }
    return r;
  }

  /** {@code BPF_MAP_CREATE}: the new map's descriptor (close-on-exec, as every bpf descriptor). */
  static int mapCreate(String name, int type, int keySize, int valueSize, int maxEntries, int flags, int innerMapFd)
      throws BpfException {
    Memory attr = zeroed(48);
    attr.setInt(0, type);
    attr.setInt(4, keySize);
    attr.setInt(8, valueSize);
    attr.setInt(12, maxEntries);
    attr.setInt(16, flags);
    attr.setInt(20, innerMapFd);
    putName(attr, 28, name);
    return (int) call(MAP_CREATE, attr, "BPF_MAP_CREATE", name + ", " + maxEntries + " entries");
  }

  /**
   * An {@code attr} for {@code BPF_MAP_UPDATE_ELEM} on {@code mapFd} with its key and value
   * buffers, reused for many updates by {@link #update}.
   */
  static Memory updateAttr(int mapFd, Memory key, Memory value) {
    Memory attr = zeroed(32);
    attr.setInt(0, mapFd);
    attr.setLong(8, Pointer.nativeValue(key));
    attr.setLong(16, Pointer.nativeValue(value));
    attr.setLong(24, 0); // BPF_ANY
    return attr;
  }

  /** {@code BPF_MAP_UPDATE_ELEM} with the key and value now in the buffers of {@code attr}. */
  static void update(Memory attr) throws BpfException {
    call(MAP_UPDATE_ELEM, attr, "BPF_MAP_UPDATE_ELEM", null);
  }

  /**
   * {@code BPF_MAP_UPDATE_BATCH}: {@code count} keys and values,
   * packed, in one call, applied in order (a later key replaces an earlier equal one). Falls back
   * to one {@code BPF_MAP_UPDATE_ELEM} a key where the kernel has no batch for the map.
   */
  static void updateAll(int mapFd, Memory keys, int keySize, Memory values, int valueSize, int count)
      throws BpfException {
    if (count == 0) {
      return;
    }
    Memory attr = zeroed(56);
    attr.setLong(16, Pointer.nativeValue(keys));
    attr.setLong(24, Pointer.nativeValue(values));
    attr.setInt(32, count);
    attr.setInt(36, mapFd);
    long r = LibC.syscall(LibC.SYS_BPF, MAP_UPDATE_BATCH, Pointer.nativeValue(attr), attr.size());
    if (r >= 0) {
      return;
    }
    int errno = Errors.lastErrno();
    int done = attr.getInt(32);
    if (done != 0 || (errno != LinuxErrno.EINVAL && errno != LinuxErrno.ENOTSUPP && errno != LinuxErrno.EOPNOTSUPP)) {
      throw new BpfException("BPF_MAP_UPDATE_BATCH", errno, done + " of " + count + " entries written");
    }
    Memory one = updateAttr(mapFd, keys, values);
    for (int i = 0; i < count; i++) {
      one.setLong(8, Pointer.nativeValue(keys) + (long) i * keySize);
      one.setLong(16, Pointer.nativeValue(values) + (long) i * valueSize);
      update(one);
    }
  }

  /**
   * {@code BPF_PROG_LOAD} of a socket filter: its descriptor. Loaded first without a log; if the
   * verifier refuses it, loaded again with one, so the exception says why.
   */
  static int loadSocketFilter(String name, byte[] instructions, String license) throws BpfException {
    Memory insns = new Memory(instructions.length);
    insns.write(0, instructions, 0, instructions.length);
    byte[] lic = (license + "\0").getBytes(StandardCharsets.US_ASCII);
    Memory licence = new Memory(lic.length);
    licence.write(0, lic, 0, lic.length);
    Memory attr = zeroed(72);
    attr.setInt(0, PROG_TYPE_SOCKET_FILTER);
    attr.setInt(4, instructions.length / 8);
    attr.setLong(8, Pointer.nativeValue(insns));
    attr.setLong(16, Pointer.nativeValue(licence));
    putName(attr, 48, name);
    long r = LibC.syscall(LibC.SYS_BPF, PROG_LOAD, Pointer.nativeValue(attr), attr.size());
    if (r >= 0) {
      return (int) r;
    }
    int errno = Errors.lastErrno();
    if (errno != LinuxErrno.EACCES && errno != LinuxErrno.EINVAL) {
      throw new BpfException("BPF_PROG_LOAD", errno, null); // EPERM: no CAP_BPF; the log would not help
    }
    Memory log = new Memory(64 * 1024);
    log.clear();
    attr.setInt(24, 1);                       // log_level
    attr.setInt(28, (int) log.size());        // log_size
    attr.setLong(32, Pointer.nativeValue(log)); // log_buf
    r = LibC.syscall(LibC.SYS_BPF, PROG_LOAD, Pointer.nativeValue(attr), attr.size());
    if (r >= 0) {
      return (int) r;
    }
    errno = Errors.lastErrno();
    String verifier = log.getString(0, StandardCharsets.US_ASCII.name()).strip();
    int lines = verifier.lastIndexOf('\n', Math.max(0, verifier.length() - 2));
    throw new BpfException("BPF_PROG_LOAD", errno,
        "the verifier says: " + (lines < 0 ? verifier : verifier.substring(lines + 1)).replace('\n', ' '));
  }

  /**
   * {@code BPF_PROG_TEST_RUN}: runs the program once on {@code frame} (an Ethernet frame) and
   * returns its return value; tests use it to check the program's decisions without a packet.
   */
  static int testRun(int progFd, byte[] frame) throws BpfException {
    Memory data = new Memory(frame.length);
    data.write(0, frame, 0, frame.length);
    Memory attr = zeroed(40);
    attr.setInt(0, progFd);
    attr.setInt(8, frame.length);
    attr.setLong(16, Pointer.nativeValue(data));
    attr.setInt(32, 1); // repeat
    call(PROG_TEST_RUN, attr, "BPF_PROG_TEST_RUN", null);
    return attr.getInt(4);
  }

  /** {@code setsockopt(SO_ATTACH_BPF)}: 0, or the errno. */
  static int attach(int socketFd, int progFd) {
    return LibC.setsockopt(socketFd, LibC.SOL_SOCKET, SO_ATTACH_BPF, new int[] {progFd}, 4) < 0 ? Errors.lastErrno() : 0;
  }

  /** {@code setsockopt(SO_DETACH_FILTER)}: 0, or the errno ({@code ENOENT} if none is attached). */
  static int detach(int socketFd) {
    return LibC.setsockopt(socketFd, LibC.SOL_SOCKET, SO_DETACH_FILTER, new int[] {0}, 4) < 0 ? Errors.lastErrno() : 0;
  }

  private static Memory zeroed(int size) {
    Memory m = new Memory(size);
    m.clear();
    return m;
  }

  /** An object name of at most 15 characters (letters, digits, '_' and '.'), NUL-terminated. */
  private static void putName(Memory attr, int offset, String name) {
    byte[] b = name.getBytes(StandardCharsets.US_ASCII);
    attr.write(offset, b, 0, Math.min(15, b.length));
  }
}
