/**
 * Portcullis: the fluent server DSL ({@link dev.portcullis.Server}), the access policy, the
 * handshakes and the transport SPI. The transport itself, a module of its own, is found with
 * {@link java.util.ServiceLoader}; on the module path it is bound like any provider module,
 * without being required here.
 */
module dev.portcullis {
  exports dev.portcullis;
  exports dev.portcullis.handshake;
  exports dev.portcullis.handshake.tls;
  exports dev.portcullis.handshake.proxy;
  exports dev.portcullis.handshake.secret;
  exports dev.portcullis.policy;
  exports dev.portcullis.spi;
  exports dev.portcullis.admission;
  // dev.portcullis.internal is deliberately not exported.

  requires org.slf4j;
  requires java.management; // the ServerMXBean registered while a server runs

  uses dev.portcullis.spi.Transport;
  // ServerSpec.start() finds its implementation here, so the API package never names dev.portcullis.internal.
  uses dev.portcullis.ServerRuntime;
  provides dev.portcullis.ServerRuntime with dev.portcullis.internal.PipelineRuntime;
}
