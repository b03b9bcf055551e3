#include "dataplane/engine/counters.h"

#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

TEST(PortCounterCellsTest, SumsWorkersAndNamesDropReasons) {
  PortCounterCells first;
  PortCounterCells second;
  first.rx_packets.Add(3);
  first.rx_bytes.Add(300);
  second.rx_packets.Add(2);
  second.tx_packets.Add(4);
  second.tx_bytes.Add(400);
  first.CountDrop(DropReason::kNoRoute);
  second.CountDrop(DropReason::kNoRoute, 2);
  second.CountDrop(DropReason::kTxFull, 5);
  first.CountEvent(PortEvent::kArpReplied);
  second.CountEvent(PortEvent::kArpReplied);
  second.CountEvent(PortEvent::kToNode);

  PortCounters total;
  first.AddTo(total);
  second.AddTo(total);

  EXPECT_EQ(total.rx_packets, 5u);
  EXPECT_EQ(total.rx_bytes, 300u);
  EXPECT_EQ(total.tx_packets, 4u);
  EXPECT_EQ(total.tx_bytes, 400u);
  EXPECT_EQ(total.drops, (std::map<std::string, uint64_t>{{"no_route", 3}, {"tx_full", 5}}));
  EXPECT_EQ(total.events, (std::map<std::string, uint64_t>{{"arp_replies", 2}, {"to_node", 1}}));
}

TEST(PortCounterCellsTest, ResetClearsEverything) {
  PortCounterCells cells;
  cells.rx_packets.Add(1);
  cells.tx_bytes.Add(2);
  cells.CountDrop(DropReason::kSpoofedSource);
  cells.CountEvent(PortEvent::kArpRequested);
  cells.Reset();

  PortCounters total;
  cells.AddTo(total);
  EXPECT_EQ(total.rx_packets, 0u);
  EXPECT_EQ(total.tx_bytes, 0u);
  EXPECT_TRUE(total.drops.empty());
  EXPECT_TRUE(total.events.empty());
}

TEST(DropReasonTest, EveryReasonHasItsOwnName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kDropReasonCount; ++i) {
    std::string_view name = DropReasonName(static_cast<DropReason>(i));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

TEST(PortEventTest, EveryEventHasItsOwnName) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kPortEventCount; ++i) {
    std::string_view name = PortEventName(static_cast<PortEvent>(i));
    EXPECT_NE(name, "unknown");
    EXPECT_TRUE(names.insert(name).second) << name;
  }
}

}  // namespace
}  // namespace dpcni::dataplane
