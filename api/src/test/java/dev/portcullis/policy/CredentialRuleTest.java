package dev.portcullis.policy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Rules on Unix domain socket peers: the text form, its errors, and how a policy decides. */
class CredentialRuleTest {
  private static PeerCredentials peer(int uid, int gid) {
    return new PeerCredentials(4242, uid, gid);
  }

  private static void refused(String text, String... parts) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AccessPolicy.parse(text));
    for (String part : parts) {
      assertTrue(e.getMessage().contains(part), "'" + e.getMessage() + "' should say '" + part + "'");
    }
  }

  @Test
  void theTextFormParsesNamesAndIdsBesideAddressRules() {
    AccessPolicy p = AccessPolicy.parse("allow 10.0.0.0/8\nallow uid 1000\ndeny gid 0\nallow user root\nallow group root\n");
    assertEquals(1, p.rules().size());
    assertEquals(4, p.credentialRules().size());
    assertEquals(CredentialRule.allowUid(0), CredentialRule.parse("allow user root"), "root is uid 0 in /etc/passwd");
    assertEquals("allow user root", CredentialRule.parse("allow   user\troot").toString());
    assertEquals("deny gid 0", CredentialRule.parse("deny gid 0").toString());
    assertEquals(p, AccessPolicy.parse(p.toString()), "the text form round-trips");
  }

  @Test
  void badCredentialRulesAreRefusedWithTheLineAndWhy() {
    refused("allow 10.0.0.0/8\nallow user no-such-user-here", "line 2:", "no user 'no-such-user-here' in /etc/passwd",
        "'uid N'");
    refused("allow group no-such-group", "no group 'no-such-group' in /etc/group");
    refused("allow uid -1", "'-1' is not a numeric id");
    refused("allow uid alice", "'alice' is not a numeric id");
    refused("allow uid 99999999999", "too large");
    refused("allow uid", "'allow uid'", "allow|deny uid|gid N");
    refused("permit uid 1", "'permit uid 1' starts with 'permit'");
    refused("allow uid 1 2", "allow|deny uid|gid N");
    assertThrows(IllegalArgumentException.class, () -> CredentialRule.allowUid(-5));
  }

  @Test
  void uidRulesBeatGidRulesAndDenyWinsTies() {
    AccessPolicy p = AccessPolicy.builder().rule(CredentialRule.allowGid(100)).rule(CredentialRule.denyUid(1001))
        .rule(CredentialRule.denyGid(0)).rule(CredentialRule.allowUid(5)).build();
    assertTrue(p.decide(peer(1000, 100)).isAllowed(), "group 100 allowed");
    Decision d = p.decide(peer(1001, 100));
    assertFalse(d.isAllowed(), "uid 1001 denied though its group is allowed");
    assertEquals("deny uid 1001", d.reason());
    assertTrue(p.decide(peer(5, 0)).isAllowed(), "uid 5 allowed though its group is denied: the uid is more specific");
    assertFalse(p.decide(peer(7, 0)).isAllowed());
    assertTrue(p.decide(peer(7, 7)).isDefault());
    assertFalse(p.decide(peer(7, 7)).isAllowed(), "the default is deny when any credential rule allows");
    AccessPolicy tie = AccessPolicy.builder().rule(CredentialRule.allowUid(9)).rule(CredentialRule.denyUid(9)).build();
    assertFalse(tie.decide(peer(9, 9)).isAllowed());
    AccessPolicy onlyDeny = AccessPolicy.builder().rule(CredentialRule.denyUid(0)).build();
    assertTrue(onlyDeny.decide(peer(1, 1)).isAllowed(), "only deny rules: everyone else is allowed");
    assertFalse(onlyDeny.decide((PeerCredentials) null).isAllowed(), "unreadable credentials are denied");
    assertFalse(AccessPolicy.parse("allow 0.0.0.0/0").decide(peer(1, 1)).isAllowed(), "address rules never match");
  }
}
