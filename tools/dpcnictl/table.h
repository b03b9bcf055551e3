// Plain-text tables with aligned columns, for terminal output.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace dpcni::dpcnictl {

enum class Align { kLeft, kRight };

struct Column {
  std::string header;
  Align align = Align::kLeft;
};

class Table {
 public:
  explicit Table(std::vector<Column> columns);

  // `cells` holds one entry per column.
  void AddRow(std::vector<std::string> cells);

  // The header line, then one line per row; columns are as wide as their widest cell and two
  // spaces apart; lines carry no trailing blanks.
  void Print(std::ostream& out) const;

 private:
  void PrintLine(const std::vector<std::string>& cells, const std::vector<size_t>& widths,
                 std::ostream& out) const;

  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace dpcni::dpcnictl
