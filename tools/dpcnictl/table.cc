#include "tools/dpcnictl/table.h"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace dpcni::dpcnictl {

Table::Table(std::vector<Column> columns) : columns_(std::move(columns)) {}

void Table::AddRow(std::vector<std::string> cells) {
  if (cells.size() != columns_.size()) {
    throw std::invalid_argument("table row has " + std::to_string(cells.size()) + " cells for " +
                                std::to_string(columns_.size()) + " columns");
  }
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& out) const {
  std::vector<std::string> headers;
  std::vector<size_t> widths;
  for (const Column& column : columns_) {
    headers.push_back(column.header);
    widths.push_back(column.header.size());
  }
  for (const std::vector<std::string>& row : rows_) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  PrintLine(headers, widths, out);
  for (const std::vector<std::string>& row : rows_) {
    PrintLine(row, widths, out);
  }
}

void Table::PrintLine(const std::vector<std::string>& cells, const std::vector<size_t>& widths,
                      std::ostream& out) const {
  std::string line;
  for (size_t i = 0; i < cells.size(); ++i) {
    std::string padding(widths[i] - cells[i].size(), ' ');
    if (i > 0) line += "  ";
    line += columns_[i].align == Align::kRight ? padding + cells[i] : cells[i] + padding;
  }
  line.erase(line.find_last_not_of(' ') + 1);
  out << line << "\n";
}

}  // namespace dpcni::dpcnictl
