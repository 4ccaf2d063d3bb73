#pragma once

// Rules created in an account state the way the server creates them: each body through the
// real validation (parse_create), then as a "created" event through the real fold.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <boost/test/unit_test.hpp>
#include <string>

#include "domain/rules/account_state.hpp"
#include "domain/rules/entities.hpp"

namespace referrald::testing {

// Creates a rule of kind T in `s` for each body of the array `bodies`.
template <class T>
void create_rules(domain::account_state& s, const rapidjson::Value& bodies) {
  for (const auto& body : bodies.GetArray()) {
    auto value = domain::parse_create<T>(body);
    if (!value.ok()) {
      rapidjson::StringBuffer buf;
      rapidjson::Writer<rapidjson::StringBuffer> w(buf);
      body.Accept(w);
      BOOST_FAIL(std::string(buf.GetString()) + ": " + value.err().message);
    }
    value->id = s.entities<T>().next_id();
    domain::event e;
    e.seq = s.seq() + 1;
    e.prev_hash = s.head_hash();
    e.type = domain::kind_traits<T>::created;
    e.entity_id = value->id;
    e.object = domain::encode_object(*value);
    auto st = s.apply(e);
    BOOST_REQUIRE_MESSAGE(st.ok(), (st.ok() ? "" : st.err().message));
  }
}

}  // namespace referrald::testing
