package dev.portcullis.policy;

/**
 * Who is at the other end of a Unix domain socket, as the kernel recorded it when the peer
 * connected ({@code SO_PEERCRED}): not a claim the peer makes, so it cannot be forged by the peer.
 *
 * @param pid the peer's process id at connect time (the process may have exited since)
 * @param uid the peer's effective user id
 * @param gid the peer's effective primary group id
 */
public record PeerCredentials(int pid, int uid, int gid) {
  /** {@code uid=1000 gid=1000 pid=4242}. */
  @Override
  public String toString() {
    return "uid=" + uid + " gid=" + gid + " pid=" + pid;
  }
}
