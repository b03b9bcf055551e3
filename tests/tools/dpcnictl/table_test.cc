#include "tools/dpcnictl/table.h"

#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

namespace dpcni::dpcnictl {
namespace {

TEST(Table, AlignsColumnsToTheirWidestCell) {
  Table table({{"NAME"}, {"PACKETS", Align::kRight}, {"NOTE"}});
  table.AddRow({"default/web-0", "7", "ok"});
  table.AddRow({"kube-system/dns", "123456789", ""});
  std::ostringstream out;
  table.Print(out);
  EXPECT_EQ(out.str(),
            "NAME               PACKETS  NOTE\n"
            "default/web-0            7  ok\n"
            "kube-system/dns  123456789\n");
}

TEST(Table, WithoutRowsPrintsTheHeader) {
  std::ostringstream out;
  Table({{"PREFIX"}, {"NEXT HOP"}}).Print(out);
  EXPECT_EQ(out.str(), "PREFIX  NEXT HOP\n");
}

TEST(Table, RejectsARowOfTheWrongWidth) {
  Table table({{"A"}, {"B"}});
  EXPECT_THROW(table.AddRow({"only one"}), std::invalid_argument);
}

}  // namespace
}  // namespace dpcni::dpcnictl
