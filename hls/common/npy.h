// A minimal reader of the .npy files numpy writes, shared by the testbenches of hls/cifar10 and hls/imagenet.
#ifndef FRACNET_NPY_H
#define FRACNET_NPY_H

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

// An array of a .npy file (format 1.0-3.0, C order, little endian).
struct Npy {
  std::string descr;
  std::vector<long> shape;
  std::vector<char> data;
};

inline bool read_npy(const std::string &path, Npy &npy, std::string &error) {
  std::ifstream in(path.c_str(), std::ios::binary);
  if (!in) {
    error = "cannot open " + path;
    return false;
  }
  char magic[8];
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) {
    error = path + " is not a .npy file";
    return false;
  }
  unsigned long header_len = 0;
  unsigned char len_bytes[4] = {0, 0, 0, 0};
  const int len_size = magic[6] == 1 ? 2 : 4;
  in.read(reinterpret_cast<char *>(len_bytes), len_size);
  for (int i = len_size - 1; i >= 0; i--) header_len = header_len * 256 + len_bytes[i];
  std::string header(header_len, ' ');
  in.read(&header[0], header_len);
  if (header.find("'fortran_order': False") == std::string::npos) {
    error = path + " is not in C order";
    return false;
  }
  const size_t d = header.find("'descr': '");
  const size_t s = header.find("'shape': (");
  if (d == std::string::npos || s == std::string::npos) {
    error = path + ": unreadable header";
    return false;
  }
  npy.descr = header.substr(d + 10, header.find('\'', d + 10) - d - 10);
  npy.shape.clear();
  const std::string dims = header.substr(s + 10, header.find(')', s) - s - 10);
  long count = 1;
  for (size_t pos = 0; pos < dims.size();) {
    const size_t comma = dims.find(',', pos);
    const std::string item = dims.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    if (item.find_first_of("0123456789") != std::string::npos) {
      npy.shape.push_back(std::atol(item.c_str()));
      count *= npy.shape.back();
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  const long item = npy.descr.empty() ? 0 : npy.descr[npy.descr.size() - 1] - '0';  // bytes per element
  npy.data.resize(count * item);
  in.read(npy.data.data(), npy.data.size());
  if (!in) {
    error = path + " is truncated";
    return false;
  }
  return true;
}

inline bool expect(const Npy &npy, const char *descr, long n, long inner, const std::string &name, std::string &error) {
  long size = 1;
  for (size_t i = 1; i < npy.shape.size(); i++) size *= npy.shape[i];
  if (npy.descr != descr || npy.shape.empty() || npy.shape[0] != n || size != inner) {
    error = name + ": expected " + descr + " with " + std::to_string(n) + " rows of " + std::to_string(inner);
    return false;
  }
  return true;
}


#endif  // FRACNET_NPY_H
