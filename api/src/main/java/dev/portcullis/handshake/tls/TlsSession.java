package dev.portcullis.handshake.tls;

/**
 * What a finished TLS handshake agreed, attached to the connection: {@code
 * connection.attribute(TlsSession.class)}.
 *
 * @param protocol the protocol version, {@code TLSv1.3} or {@code TLSv1.2}
 * @param cipherSuite the cipher suite, such as {@code TLS_AES_256_GCM_SHA384}
 * @param serverName the host name the client asked for (SNI), or null if it sent none
 * @param session the JDK's session, for anything else (peer certificates, session id)
 */
public record TlsSession(String protocol, String cipherSuite, String serverName, javax.net.ssl.SSLSession session) {}
